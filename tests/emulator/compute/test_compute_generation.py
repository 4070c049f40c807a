"""The compute API's change counter, by which the data plane knows when to read again: every
method that changes what is stored moves it, reads do not."""

from __future__ import annotations

from google.cloud import compute_v1

from tests.emulator.compute.test_compute import (
    P,
    build_chain,
    delete,
    global_link,
    insert,
    patch_backend_description,
    url_map,
)


def test_every_change_moves_the_generation_and_reads_do_not(enabled, emu):
    c = enabled
    seen = [emu.compute.generation]

    def moved() -> bool:
        now = emu.compute.generation
        changed = now != seen[-1]
        seen.append(now)
        return changed

    build_chain(c)
    assert moved()
    c.global_forwarding_rules.get(project=P, forwarding_rule="fr")
    c.backend_services.list(project=P)
    emu.compute.get("urlMaps", "global/urlMaps/um")
    assert not moved()

    bs = c.backend_services.get(project=P, backend_service="bs")
    patch_backend_description(c, "patched", bs.fingerprint)
    assert moved()

    rule = c.global_forwarding_rules.get(project=P, forwarding_rule="fr")
    c.global_forwarding_rules.set_labels(
        project=P,
        resource="fr",
        global_set_labels_request_resource=compute_v1.GlobalSetLabelsRequest(
            labels={"k": "v"}, label_fingerprint=rule.label_fingerprint
        ),
    ).result(timeout=30)
    assert moved()

    insert(c.url_maps, url_map_resource=url_map(name="um2"))
    assert moved()
    c.target_http_proxies.set_url_map(
        project=P,
        target_http_proxy="px",
        url_map_reference_resource=compute_v1.UrlMapReference(
            url_map=global_link("urlMaps", "um2")
        ),
    ).result(timeout=30)
    assert moved()

    delete(c.url_maps, url_map="um")
    assert moved()
    emu.compute.reset()
    assert moved()
