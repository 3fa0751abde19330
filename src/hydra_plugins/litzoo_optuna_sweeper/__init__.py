"""litzoo's Optuna sweeper as a Hydra plugin: Hydra 1.3 instantiates sweepers only from the `hydra_plugins`
namespace package. Its config is litzoo's conf/hydra/sweeper/optuna.yaml; its work is litzoo.sweep.optuna."""
