"""MLflow's models-from-code entry point for a Mimamori bundle.

`log_bundle` hands MLflow this file instead of a pickled object: when a model is loaded
(`mlflow.pyfunc.load_model`, `mlflow models serve`), MLflow runs it, and it names the pyfunc
class. So a logged model holds no pickle, only this file, the package code and the bundle
files. Nothing in Mimamori imports this module; running it is its whole purpose.
"""

import mlflow

from models.pyfunc import BundlePythonModel

mlflow.models.set_model(BundlePythonModel())
