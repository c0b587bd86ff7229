"""hotline: an on-premises IVR and call-distribution appliance for citizen-service hotlines."""

__version__ = "0.1.0"
