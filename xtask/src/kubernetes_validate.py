"""kubernetes-validate, run by its own interpreter, with the schemas of the custom resources
the manifests hold (the Gateway API's and the prometheus-operator's, vendored in
xtask/schemas/crds/) beside those it
bundles for the built-in kinds: a schema it looks up (`<kind>-<group>-<version>.json`, under
the requested version's folder) is read from $VUTLER_CRDS when that folder has it. Everything
else (arguments, output, the strict mode, the "no schema" warning) is kubernetes-validate's."""
import json
import os
import sys

import kubernetes_validate.utils as utils
from kubernetes_validate.__main__ import main

crds = os.environ["VUTLER_CRDS"]
bundled = utils.schema_contents


def schema_contents(filename, desired_version):
    name = os.path.basename(filename)
    path = os.path.join(crds, name)
    if name != "_definitions.json" and os.path.isfile(path):
        with open(path) as f:
            schema = json.load(f)
        # Its registry holds each schema by its `$id`, as the bundled ones have.
        schema["$id"] = "https://vutler.invalid/crds/" + name
        return schema
    return bundled(filename, desired_version)


utils.schema_contents = schema_contents
sys.exit(main())
