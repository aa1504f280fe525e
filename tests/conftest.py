"""Every test process uses the test overlay of the settings: its own ports and state folder
(.state/test), so tests never touch a stack started with `make up`."""

import os

os.environ["RETAIL_SETTINGS"] = "test"
