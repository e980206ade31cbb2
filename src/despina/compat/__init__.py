"""Compatibility layers: run code written for another tracker's API against Despina.

`despina.compat.neptune` takes scripts written for Neptune 1.x (and the older `neptune.new` API) with
one changed import line::

    import despina.compat.neptune as neptune      # was: import neptune

The layer is a thin wrapper over the native API: it translates arguments, environment variables and
Neptune's lenient value rules (values Neptune skipped are skipped with a warning, where the native API
raises); it never changes how Despina stores a run. Every difference is listed in
docs/neptune-compat.md.
"""
