"""The `floor` command line (Typer and rich): operations, status, positions, history, schedules."""
