"""``constitutional compare``: the seed's table of methods as measured numbers.

- ``methods``: the six methods as run configs derived from one config (one
  base model, one budget, one prompt pool).
- ``table``: each method's row from its run's manifest and the shared
  evaluation, rates corrected for the judge (``eval.correction``).
- ``run``: ``main(cfg)``, which trains each method stage by stage, each in
  its own process (so a stage's peak memory is its own), evaluates all of
  them together and writes the table.

This layer sits above the stages: it runs them as commands and reads the
files they leave, as a user would.
"""
