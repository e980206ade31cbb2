"""Log a nested config with values Neptune cannot store directly, through `stringify_unsupported`.

Neptune docs, "Logging values of unsupported types". Only the import lines differ.
"""

import despina.compat.neptune as neptune  # was: import neptune
from despina.compat.neptune.utils import stringify_unsupported  # was: from neptune.utils import ...

config = {
    "model": {"layers": [256, 128, 10], "activation": "relu", "init": None},
    "data": {"augmentations": ("flip", "crop"), "classes": 10},
    "seed": 2**40,
    "target_loss": float("nan"),
    "lr": 0.003,
}

run = neptune.init_run(name="stringified-config")

run["config"] = stringify_unsupported(config)
run["config_expanded"] = stringify_unsupported(config, expand=True)

for layer_sizes in ([256, 128], [512, 256]):
    run["search/layer_sizes"].append(stringify_unsupported(layer_sizes))

run.stop()
