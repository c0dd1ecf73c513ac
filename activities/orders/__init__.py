"""Orders from Sales: the order model, intake (JSON, CRM CSV), validation and provisioning."""
