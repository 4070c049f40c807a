"""Exact region choice: checked against a brute force written independently of the solver
(pure Python over geo.modelled_rtt_ms), for population and for a weights file."""

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from globalguide import demand, geo, placement
from globalguide.placement import EXHAUSTIVE, MILP, Point

ALL = tuple(sorted(geo.REGIONS))
# Spread over every continent, so that every k from 1 to 13 has a different answer.
FOURTEEN = (
    "africa-south1", "asia-northeast1", "asia-south1", "asia-southeast1",
    "australia-southeast1", "europe-north1", "europe-west1", "europe-west3", "me-central1",
    "southamerica-east1", "southamerica-west1", "us-central1", "us-east4", "us-west1",
)  # fmt: skip
WEIGHTS_CSV = """city,country,lat,lon,weight
São Paulo,,,,900
Buenos Aires,,,,700
Lima,,,,400
"Santiago, CL",,,,350
Bogotá,,,,300
Mexico City,,,,500
,Argentina,,,200
Madrid,,,,250
Lisbon,,,,120
Paris,,,,100
Berlin,,,,90
Miami,US,,,300
Houston,US,,,150
Toronto,,,,60
,,-33.92,18.42,80
Lagos,,,,40
Tokyo,,,,30
Sydney,,,,25
Mumbai,,,,20
Seoul,,,,15
Cairo,,,,35
Istanbul,,,,45
Montevideo,,,,110
Caracas,,,,90
Quito,,,,70
Guadalajara,,,,80
Monterrey,,,,60
Los Angeles,,,,130
New York,,,,210
London,,,,95
"""


def _brute_force(k, points, candidates, required=()):
    """(best mean, all sets reaching it): every k-subset including the required."""
    total = sum(p.weight for p in points)
    table = {r: [geo.modelled_rtt_ms(p.lat, p.lon, r) for p in points] for r in candidates}
    free = [r for r in candidates if r not in required]
    results = []
    for combo in itertools.combinations(free, k - len(required)):
        chosen = [*required, *combo]
        mean = (
            sum(p.weight * min(table[r][i] for r in chosen) for i, p in enumerate(points)) / total
        )
        results.append((mean, tuple(sorted(chosen))))
    best = min(m for m, _ in results)
    return best, {s for m, s in results if m <= best + 1e-9}


def _check(choice, k, points, candidates, required=()):
    best, optimal_sets = _brute_force(k, points, candidates, required)
    assert choice.mean_rtt_ms == pytest.approx(best, rel=1e-9)
    assert choice.regions in optimal_sets
    assert choice.gap <= 1e-9 and choice.lower_bound_ms <= choice.mean_rtt_ms
    assert set(required) <= set(choice.regions) and len(choice.regions) == k


@pytest.fixture(scope="module")
def population():
    return demand.population(100).points


@pytest.fixture(scope="module")
def weighted():
    return demand.parse(WEIGHTS_CSV, "weights.csv").points


@pytest.mark.parametrize("method", [EXHAUSTIVE, MILP])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_optimal_over_all_regions_for_small_k(population, k, method):
    choice = placement.choose(k, population, ALL, method=method)
    assert choice.method == method
    _check(choice, k, population, ALL)


@pytest.mark.parametrize("method", [EXHAUSTIVE, MILP])
def test_optimal_for_every_k_over_fourteen_regions(population, method):
    for k in range(1, len(FOURTEEN)):
        _check(placement.choose(k, population, FOURTEEN, method=method), k, population, FOURTEEN)


def test_weights_file_optimal_for_every_k_and_unlike_population(population, weighted):
    for k in range(1, len(FOURTEEN)):
        _check(placement.choose(k, weighted, FOURTEEN, method=MILP), k, weighted, FOURTEEN)
    for k in (1, 2, 3):
        _check(placement.choose(k, weighted, ALL), k, weighted, ALL)
    # The file's users are mostly in the Americas and Iberia: a different answer.
    for k in (1, 2, 3):
        mine = placement.choose(k, weighted, ALL).regions
        assert mine != placement.choose(k, population, ALL).regions
    assert placement.choose(1, weighted, ALL).regions == ("southamerica-east1",)


def test_required_regions_are_kept_and_the_rest_optimal(population):
    required = ("us-central1", "europe-west1")
    for k in range(2, 6):
        choice = placement.choose(k, population, FOURTEEN, required=required, method=MILP)
        _check(choice, k, population, FOURTEEN, required)
    _check(placement.choose(2, population, ALL, required=required), 2, population, ALL, required)


@pytest.mark.parametrize("k", range(4, 11))
def test_beyond_brute_force_the_gap_is_reported_as_zero(k):
    points = demand.population(1000).points
    choice = placement.choose(k, points, ALL)
    assert choice.method == MILP and len(choice.regions) == k
    assert choice.gap <= 1e-6 and choice.lower_bound_ms <= choice.mean_rtt_ms
    mean, p95 = placement.evaluate(choice.regions, points)
    assert choice.mean_rtt_ms == pytest.approx(mean) and choice.p95_rtt_ms == p95
    # Optimal among its neighbours: no single swap improves it.
    for out, into in itertools.product(choice.regions, set(ALL) - set(choice.regions)):
        swapped = [r for r in choice.regions if r != out] + [into]
        assert placement.evaluate(swapped, points)[0] >= choice.mean_rtt_ms - 1e-9


def test_default_method_is_exhaustive_only_when_small(population):
    assert placement.choose(2, population, ALL).method == EXHAUSTIVE
    assert placement.choose(5, population, ALL).method == MILP


def test_bad_arguments(population):
    for bad in (0, len(FOURTEEN) + 1):
        with pytest.raises(ValueError):
            placement.choose(bad, population, FOURTEEN)
    with pytest.raises(ValueError):
        placement.choose(1, population, FOURTEEN, required=("us-east1",))
    with pytest.raises(ValueError):
        placement.choose(1, population, FOURTEEN, required=("us-central1", "us-east4"))
    with pytest.raises(ValueError):
        placement.choose(1, [], FOURTEEN)
    with pytest.raises(ValueError):
        placement.choose(1, population, FOURTEEN, method="greedy")


@settings(max_examples=50, deadline=None)
@given(st.floats(-90, 90), st.floats(-180, 180), st.sampled_from(ALL))
def test_rtt_matrix_is_the_modelled_rtt(lat, lon, region):
    got = placement.rtt_matrix([Point(lat, lon, 1.0)], [region])[0, 0]
    assert got == pytest.approx(geo.modelled_rtt_ms(lat, lon, region), rel=1e-9, abs=1e-9)


# ------------------------------------------------------------------ weighted percentile


def test_weighted_percentile_with_equal_weights_is_the_ceil_rank():
    values = list(range(20, 0, -1))  # 20..1, unsorted on purpose
    for q, rank in ((0.95, 19), (0.5, 10), (1.0, 20), (0.01, 1)):
        assert placement.weighted_percentile(values, [1] * 20, q) == rank == math.ceil(q * 20)


def test_weighted_percentile_follows_the_weight():
    wp = placement.weighted_percentile
    assert wp([30, 10, 20], [0.06, 0.9, 0.04], 0.95) == 30  # 0.94 of the weight is <= 20
    assert wp([30, 10, 20], [0.04, 0.95, 0.01], 0.95) == 10  # exactly 0.95 is <= 10
    assert wp([30, 10, 20], [0.04, 0.91, 0.05], 0.95) == 20
    assert wp([5, 100], [1, 0], 0.95) == 5  # a weightless point never counts
    assert wp([7.5], [3], 0.95) == 7.5


@pytest.mark.parametrize(
    "values, weights, q",
    [([], [], 0.95), ([1, 2], [1], 0.95), ([1], [-1], 0.95), ([1], [0], 0.95), ([1], [1], 0)],
)
def test_weighted_percentile_rejects_bad_input(values, weights, q):
    with pytest.raises(ValueError):
        placement.weighted_percentile(values, weights, q)


def test_choice_p95_is_the_weighted_percentile_of_its_cities(weighted):
    choice = placement.choose(2, weighted, ALL)
    served = [min(geo.modelled_rtt_ms(p.lat, p.lon, r) for r in choice.regions) for p in weighted]
    total = sum(p.weight for p in weighted)
    # Independently: sort, walk the cumulative weight to 95 %.
    running = 0.0
    for rtt, p in sorted(zip(served, weighted), key=lambda t: t[0]):
        running += p.weight
        if running >= 0.95 * total - 1e-9:
            break
    assert choice.p95_rtt_ms == pytest.approx(rtt)


def test_ten_regions_over_a_thousand_cities_in_under_two_cpu_seconds():
    import time

    points = demand.population(1000).points
    placement.choose(3, points, ALL)  # imports SciPy: paid once per process
    for k in (3, 6, 10):
        started = time.process_time()
        placement.choose(k, points, ALL)
        assert time.process_time() - started < 2.0


def test_gap_and_the_solver_limit(population, monkeypatch):
    unproven = placement.Choice(("us-east1",), 10.0, 20.0, MILP, 9.0, 0.1)
    assert unproven.gap == pytest.approx(0.1)
    assert placement.Choice(("us-east1",), 10.0, 20.0, MILP, 10.0 - 1e-14, 0.1).gap == 0
    monkeypatch.setattr(placement, "MILP_TIME_LIMIT_S", 1e-6)
    with pytest.raises(placement.SolverError) as caught:
        placement.choose(5, population, ALL, method=MILP)
    assert caught.value.exit_code == 1 and "no solution within 1e-06 s" in caught.value.message
