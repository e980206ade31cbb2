"""What a run records by itself: source code, git, environment, dependencies, hardware, console."""
