"""MLflow models-from-code entry point for the eih_ml pyfunc model.

MLflow executes this file when it loads a logged eih_ml model; the package never imports it.
"""

from mlflow.models import set_model

from eih_ml.pyfunc import EihResponderModel

set_model(EihResponderModel())
