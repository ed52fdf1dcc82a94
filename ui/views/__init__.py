"""One module per tab of the app: each draws, and every number it shows comes from a tested function in model/ or data/ (through ui/services)."""
