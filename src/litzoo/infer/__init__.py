"""A trained run answering on new data: `litzoo-eval` on any folder, `litzoo-predict`, `litzoo-export`.

Every command here loads the run the way `litzoo-eval` always has (litzoo.run.build.rebuild_run: the checkpoint
read with `weights_only=True`, its config checked by litzoo.run.trust), reads the model's class names and other
data facts from the checkpoint (litzoo.callbacks.data_facts), and feeds inputs through the data module's own
preprocessing functions, so new data is prepared exactly as the training data was.
"""
