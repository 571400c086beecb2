"""Places orders through the API before a run, and writes their ids one a line, for the
workloads that read or change existing orders."""
import http.client
import json
import sys

port, count, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
connection = http.client.HTTPConnection("127.0.0.1", port)
ids = []
for n in range(count):
    body = {
        "storeId": "store-1",
        "customerId": f"cust-{n % 4 + 1}",
        "items": [{"productId": "prod-3", "quantity": 1, "unitPrice": 700}],
        "shippingCost": 0,
        "taxAmount": 0,
    }
    connection.request("POST", "/v1/orders", json.dumps(body), {"Content-Type": "application/json"})
    response = connection.getresponse()
    answer = json.loads(response.read())
    if response.status != 201:
        sys.exit(f"seeding failed: {response.status} {answer}")
    ids.append(answer["id"])
with open(out, "w") as file:
    file.write("\n".join(ids) + "\n")
