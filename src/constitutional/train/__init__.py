"""Training on top of TRL: what we add to its trainers and how we call them.

- ``losses``: the soft-label preference and weighted DPO losses (pure functions);
- ``trainers``: TRL's RewardTrainer and DPOTrainer extended with those losses;
- ``args``: ``training_args(cfg, stage)``, the one builder of trainer arguments;
- ``rewards``: the reward registry RL draws from, the preference model's loading and scoring;
- ``checkpoints`` and ``curves``: resuming from the newest checkpoint, RL curves as SVG.
"""
