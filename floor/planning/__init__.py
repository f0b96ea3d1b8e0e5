"""Planning: pure decisions about where the floor's capital goes (targets, caps, moves, capital
requests). No I/O and no Temporal: workflows and activities call these functions."""
