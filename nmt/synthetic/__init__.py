"""The synthetic attention benchmark (an attention_3d_block on random sequences).

``config`` holds the settings and their checks, without TensorFlow; ``experiment`` builds,
trains and reads out the models (TensorFlow, Keras); ``figure`` draws the results
(matplotlib). Only ``config`` is re-exported, so importing the package stays light.
"""

from nmt.synthetic.config import PLOT_FORMATS, VARIANTS, SyntheticConfig, check

__all__ = ["PLOT_FORMATS", "VARIANTS", "SyntheticConfig", "check"]
