"""Writers racing each other: conditional creates make one resource, not two."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from api.fhir_data import SYSTEM, patient, search_ids

#: Clients posting the same patient at once.
RACERS = 6


def test_concurrent_conditional_creates_make_one_resource(runtime):
    from carebridge.app import create_app

    app = create_app(runtime)

    def post(_n: int) -> int:
        response = app.test_client().post("/fhir/Patient", json=patient(),
                                          headers={"If-None-Exist": f"identifier={SYSTEM}|100001"})
        return response.status_code

    with ThreadPoolExecutor(RACERS) as pool:
        statuses = sorted(pool.map(post, range(RACERS)))
    assert statuses == [200] * (RACERS - 1) + [201]
    assert len(search_ids(app.test_client(), f"Patient?identifier={SYSTEM}|100001")) == 1
