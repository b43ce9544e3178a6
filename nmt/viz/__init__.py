"""Pictures of attention: alignment matrices with readable Hangul."""
