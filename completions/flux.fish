complete --keep-order --exclusive --command flux --arguments "(FLUX_COMPLETE=fish flux -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
