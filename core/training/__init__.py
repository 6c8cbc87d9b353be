"""Fine-tuning: settings (config), data from the workspace (data), the objective registry
(objectives), the trainer (trainer) and the "train" job kind (jobs)."""
