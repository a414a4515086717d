"""Schemathesis hooks for tests/schemathesis.sh: serializers for the request bodies the
OpenAPI document declares that Schemathesis has none for (PDF uploads and XFDF imports), so
those operations are exercised too instead of reported as errors."""

import schemathesis

# A PDF upload is raw bytes, as `application/octet-stream`; XFDF is XML text.
schemathesis.serializer.alias("application/pdf", "application/octet-stream")
schemathesis.serializer.alias("application/vnd.adobe.xfdf", "text/plain")
