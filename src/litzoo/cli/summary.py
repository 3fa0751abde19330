"""`litzoo-summary [--torch] [overrides]`: the Keras-style summary of the composed model, no data needed."""
from __future__ import annotations

from litzoo.summary import format_summary


def main(argv: list[str] | None = None) -> None:
    """`litzoo-summary [--torch] [overrides]`: the model of the composed training config, Keras-style."""
    import sys

    from hydra.utils import instantiate

    from litzoo.cli import cli_run
    from litzoo.run.compose import compose_config

    args = list(sys.argv[1:] if argv is None else argv)
    style = "torch" if "--torch" in args else "keras"

    def summarise() -> str:
        cfg = compose_config([a for a in args if a != "--torch"])
        if cfg.model.get("weights") not in (None, "none"):  # counts and shapes don't depend on the weights:
            cfg.model.weights = "none"                     # never download or read a weights file here
        return format_summary(instantiate(cfg.model), style=style, title=cfg.name)

    print(cli_run(summarise, "verbose=true" in args))


if __name__ == "__main__":
    main()
