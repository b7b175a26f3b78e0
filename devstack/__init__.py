"""The offline local stack: an AWS emulator (ministack) as S3, SQS and the functions' event
sources, the Chalice app as the API, and the same handlers Lambda runs, invoked by the emulator.
Development tooling, not deployed."""
