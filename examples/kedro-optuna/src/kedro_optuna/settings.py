"""Project settings. Despina's hooks need no line here: the plugin registers itself on install
(`DISABLE_HOOKS_FOR_PLUGINS = ("despina",)` would turn it off)."""
