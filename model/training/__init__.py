"""Training: the loop (TBPTT, clipping, schedules, resume), its metrics and history, several processes (torchrun)."""
