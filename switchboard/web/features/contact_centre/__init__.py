"""The contact centre (Medborgarservice): lost phones blocked and the notices that follow
(HAL-12), the directory history (HAL-13), international calls placed for a user (ALV-26)."""
