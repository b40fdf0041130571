"""Real US cities (name, state, ZIP, lat, lng) for demo locations and customers."""

from __future__ import annotations

CITIES: tuple[tuple[str, str, str, float, float], ...] = (
    ("New York", "NY", "10001", 40.7128, -74.0060),
    ("Los Angeles", "CA", "90012", 34.0522, -118.2437),
    ("Chicago", "IL", "60601", 41.8781, -87.6298),
    ("Houston", "TX", "77002", 29.7604, -95.3698),
    ("Phoenix", "AZ", "85003", 33.4484, -112.0740),
    ("Philadelphia", "PA", "19103", 39.9526, -75.1652),
    ("San Antonio", "TX", "78205", 29.4241, -98.4936),
    ("San Diego", "CA", "92101", 32.7157, -117.1611),
    ("Dallas", "TX", "75201", 32.7767, -96.7970),
    ("San Jose", "CA", "95113", 37.3382, -121.8863),
    ("Austin", "TX", "78701", 30.2672, -97.7431),
    ("Jacksonville", "FL", "32202", 30.3322, -81.6557),
    ("Fort Worth", "TX", "76102", 32.7555, -97.3308),
    ("Columbus", "OH", "43215", 39.9612, -82.9988),
    ("Charlotte", "NC", "28202", 35.2271, -80.8431),
    ("San Francisco", "CA", "94103", 37.7749, -122.4194),
    ("Indianapolis", "IN", "46204", 39.7684, -86.1581),
    ("Seattle", "WA", "98101", 47.6062, -122.3321),
    ("Denver", "CO", "80202", 39.7392, -104.9903),
    ("Washington", "DC", "20001", 38.9072, -77.0369),
    ("Boston", "MA", "02108", 42.3601, -71.0589),
    ("Nashville", "TN", "37203", 36.1627, -86.7816),
    ("Detroit", "MI", "48226", 42.3314, -83.0458),
    ("Oklahoma City", "OK", "73102", 35.4676, -97.5164),
    ("Portland", "OR", "97204", 45.5152, -122.6784),
    ("Las Vegas", "NV", "89101", 36.1699, -115.1398),
    ("Memphis", "TN", "38103", 35.1495, -90.0490),
    ("Louisville", "KY", "40202", 38.2527, -85.7585),
    ("Baltimore", "MD", "21202", 39.2904, -76.6122),
    ("Milwaukee", "WI", "53202", 43.0389, -87.9065),
    ("Albuquerque", "NM", "87102", 35.0844, -106.6504),
    ("Tucson", "AZ", "85701", 32.2226, -110.9747),
    ("Fresno", "CA", "93721", 36.7378, -119.7871),
    ("Sacramento", "CA", "95814", 38.5816, -121.4944),
    ("Kansas City", "MO", "64106", 39.0997, -94.5786),
    ("Atlanta", "GA", "30303", 33.7490, -84.3880),
    ("Miami", "FL", "33130", 25.7617, -80.1918),
    ("Raleigh", "NC", "27601", 35.7796, -78.6382),
    ("Omaha", "NE", "68102", 41.2565, -95.9345),
    ("Minneapolis", "MN", "55401", 44.9778, -93.2650),
    ("Tulsa", "OK", "74103", 36.1540, -95.9928),
    ("Cleveland", "OH", "44113", 41.4993, -81.6944),
    ("New Orleans", "LA", "70112", 29.9511, -90.0715),
    ("Tampa", "FL", "33602", 27.9506, -82.4572),
    ("Pittsburgh", "PA", "15222", 40.4406, -79.9959),
    ("Cincinnati", "OH", "45202", 39.1031, -84.5120),
    ("St. Louis", "MO", "63101", 38.6270, -90.1994),
    ("Orlando", "FL", "32801", 28.5383, -81.3792),
    ("Salt Lake City", "UT", "84101", 40.7608, -111.8910),
    ("Richmond", "VA", "23219", 37.5407, -77.4360),
    ("Buffalo", "NY", "14202", 42.8864, -78.8784),
    ("Hartford", "CT", "06103", 41.7658, -72.6734),
    ("Providence", "RI", "02903", 41.8240, -71.4128),
    ("Boise", "ID", "83702", 43.6150, -116.2023),
    ("Spokane", "WA", "99201", 47.6588, -117.4260),
    ("Des Moines", "IA", "50309", 41.5868, -93.6250),
    ("Little Rock", "AR", "72201", 34.7465, -92.2896),
    ("Birmingham", "AL", "35203", 33.5186, -86.8104),
    ("Charleston", "SC", "29401", 32.7765, -79.9311),
    ("Anchorage", "AK", "99501", 61.2181, -149.9003),
    ("Honolulu", "HI", "96813", 21.3069, -157.8583),
    ("Madison", "WI", "53703", 43.0731, -89.4012),
    ("Albany", "NY", "12207", 42.6526, -73.7562),
    ("Portland", "ME", "04101", 43.6591, -70.2568),
    ("Burlington", "VT", "05401", 44.4759, -73.2121),
)

# Distribution centers sit at freight hubs.
DC_CITIES = ("Columbus", "Dallas", "Atlanta", "Sacramento", "Philadelphia", "Chicago", "Denver")

STREETS = (
    "Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Elm St", "Washington Ave", "Park Blvd", "Lake Rd",
    "Hill St", "Market St", "Broadway", "Union St", "Church St", "River Rd", "Sunset Blvd", "2nd Ave",
)
FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "James", "Isabella", "William", "Mia",
    "Benjamin", "Amelia", "Lucas", "Harper", "Henry", "Evelyn", "Theodore", "Abigail", "Jack", "Emily",
    "Levi", "Ella", "Alexander", "Elizabeth", "Jackson", "Camila", "Mateo", "Luna", "Daniel", "Sofia",
    "Michael", "Avery", "Mason", "Mila", "Sebastian", "Aria", "Ethan", "Scarlett", "Logan", "Penelope",
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
)
PRODUCT_WORDS = (
    ("Trail", "Running Shoe", 650, (32, 22, 13), ()),
    ("Merino", "Wool Sweater", 420, (35, 28, 6), ()),
    ("Ceramic", "Pour-Over Kettle", 1100, (30, 20, 20), ("FRAGILE",)),
    ("Cast Iron", "Skillet", 2600, (45, 28, 6), ()),
    ("Glass", "Vase", 900, (20, 20, 35), ("FRAGILE",)),
    ("Lithium", "Power Bank", 350, (15, 8, 3), ("HAZMAT",)),
    ("Organic", "Cold Brew Pack", 1800, (30, 20, 15), ("COLD_CHAIN",)),
    ("Standing", "Desk Frame", 24000, (150, 70, 20), ("OVERSIZE",)),
    ("Canvas", "Tote Bag", 300, (40, 35, 2), ()),
    ("Bamboo", "Cutting Board", 1200, (45, 30, 3), ()),
    ("Wireless", "Headphones", 280, (20, 18, 9), ()),
    ("Insulated", "Water Bottle", 450, (8, 8, 27), ()),
    ("Down", "Puffer Jacket", 700, (40, 30, 10), ()),
    ("Aerosol", "Sunscreen Spray", 200, (5, 5, 18), ("HAZMAT",)),
    ("Linen", "Bed Sheet Set", 1600, (35, 30, 10), ()),
    ("Patio", "Umbrella", 8000, (240, 20, 20), ("OVERSIZE",)),
)
COLORS = ("Black", "Navy", "Sand", "Olive", "Red", "Slate", "White", "Forest", "Rust", "Sky")


def city_code(city: str) -> str:
    """Three letters, unique across CITIES: 'Boston' → BOS, 'San Diego' → SDI, 'Salt Lake City' → SLC."""
    words = city.replace(".", "").split()
    if len(words) == 1:
        return words[0][:3].upper()
    initials = "".join(word[0] for word in words[:-1])
    return (initials + words[-1][: 3 - len(initials)]).upper()
