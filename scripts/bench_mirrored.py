"""What mirrored training costs or gains on this machine's CPU, split into devices.

Splits the CPU into ``--devices`` logical devices, then trains the same model on the
same random token data with the default strategy and with ``MirroredStrategy`` in
turn, and prints the target tokens/s of each (the second epoch: the first includes
tracing) and their ratio per round, then the medians as one JSON line.

    python scripts/bench_mirrored.py --devices 2 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile

import tensorflow as tf


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--pairs", type=int, default=4096)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--units", type=int, default=256)
    p.add_argument("--length", type=int, default=20)
    args = p.parse_args()
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * args.devices
    )
    from nmt.config import Config
    from nmt.data.pipeline import Encoded
    from nmt.training import distribute
    from nmt.training.trainer import Trainer

    config = Config().override(
        [f"model.units={args.units}", f"model.attention_units={args.units}",
         "model.embedding_dim=128", "model.readout_dim=128", "model.dropout=0.0",
         "model.src_vocab_size=4000", "model.tgt_vocab_size=4000",
         f"data.batch_size={args.batch}", "data.max_src_len=64", "data.max_tgt_len=64",
         "train.epochs=2", "train.patience=0", "train.checkpoint_every=0"]
    )  # fmt: skip
    shape = (args.pairs, args.length)
    ids = tf.random.stateless_uniform(shape, (1, 2), 4, 4000, tf.int32)
    data = Encoded(tf.RaggedTensor.from_tensor(ids), tf.RaggedTensor.from_tensor(ids))
    strategies = {"default": None, "mirrored": distribute.make_strategy("mirrored")}
    speeds: dict[str, list[float]] = {name: [] for name in strategies}
    for round_ in range(args.rounds):
        for name, strategy in strategies.items():
            with tempfile.TemporaryDirectory() as out:
                trainer = Trainer(config, out, strategy=strategy)
                result = trainer.fit(data, data, log=lambda message: None)
            speeds[name].append(result.epochs[-1].tokens_per_s)
        ratio = speeds["mirrored"][-1] / speeds["default"][-1]
        print(
            f"round {round_ + 1}: default {speeds['default'][-1]:,.0f}, mirrored over "
            f"{args.devices} devices {speeds['mirrored'][-1]:,.0f} tgt tokens/s ({ratio:.2f}x)"
        )
    medians = {name: statistics.median(values) for name, values in speeds.items()}
    ratios = [m / d for m, d in zip(speeds["mirrored"], speeds["default"])]
    print(json.dumps({"devices": args.devices, "tgt_tokens_per_s": medians, "ratios": ratios}))


if __name__ == "__main__":
    main()
