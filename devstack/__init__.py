"""The offline local stack: moto as S3 and SQS, the Chalice app as the API, and a dispatcher that
delivers S3 notifications to the same handlers Lambda runs. Development tooling, not deployed."""
