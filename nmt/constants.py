"""The special token ids, the same in every vocabulary: 0 pad, 1 unknown, 2 BOS, 3 EOS.

Padding is 0 so that a zero-filled id tensor is all padding and masks are ``ids != 0``.
"""

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
