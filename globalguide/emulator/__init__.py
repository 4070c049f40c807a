"""The local twin of the Google Cloud APIs globalguide uses, with a live data plane."""
