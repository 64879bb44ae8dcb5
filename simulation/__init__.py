"""Day simulation and the service-level report (HAL-03, HAL-05).

A domain of its own beside `routing` and `voicemail`: it imports `routing` and `storage`, never
`switchboard` (the composition root, whose `cli.simulate` is the command). See docs/simulation.md.
"""
