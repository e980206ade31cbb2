"""`neptune.new.integrations`: the same as `despina.compat.neptune.integrations`."""
