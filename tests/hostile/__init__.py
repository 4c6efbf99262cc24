"""The hostile suite: hostile callbacks, operator files and faults, and the soak."""
