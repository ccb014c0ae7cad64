"""SB3 glue: run specs and config checks, vectorised envs, train, fine-tune, warm start, offline updates,
evaluation, run directories, shipping."""
