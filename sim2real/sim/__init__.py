"""The simulation layer: canonical dynamics parameters, their application to a model and to the action and
observation channels, the wrapper for stock envs, and the task registry."""
