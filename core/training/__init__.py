"""Fine-tuning: settings (config), data from the workspace (data), the objectives, one module
each (objectives/), the trainer (trainer), the model folder's card (card) and the "train" job
kind (jobs). The run itself (row, folder, status, model) is core/runs.py's."""
