"""Integrations of Despina with other tools (`despina.integrations.optuna`, ...).

Each integration imports its tool lazily: importing the module costs nothing and works without the tool
installed; using it without the tool raises an ImportError that says which extra to install
(`pip install "despina[optuna]"`).
"""
