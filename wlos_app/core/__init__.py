"""Qt-free core: media, face, features, models, estimators, sync. The CLI, GUI and trainer all call this."""
