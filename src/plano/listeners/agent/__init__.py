"""The agent listener: agents selected and called in sequence."""
