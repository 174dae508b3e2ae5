"""AI feedback on model outputs.

- ``judge``: which of two replies better fits a principle, read in one pass
  from the judge's P("A") vs P("B"), both orders (Bai et al. 2022, sec. 4.1);
- ``check``: the judge measured on the packaged labeled pairs;
- ``revision_quality``: cleaning and checks of SL-CAI revisions.
"""
