//! XGBoost / LightGBM model import (filled in by the interop work).
