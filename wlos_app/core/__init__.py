"""Qt-free core: media, faces, features, models, the estimators (methods/), the analysis. The CLI, GUI and
trainer all call this."""
