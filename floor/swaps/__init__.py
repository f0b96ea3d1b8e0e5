"""Selling reward tokens for a base asset: the venue config, pure encoders of quotes and swaps, the harvest plan."""
