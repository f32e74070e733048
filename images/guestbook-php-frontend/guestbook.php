<?php
// The classic guestbook API, on phpredis instead of Predis:
//   guestbook.php?cmd=set&key=messages&value=...  writes to the master -> {"message": "Updated"}
//   guestbook.php?cmd=get&key=messages            reads from a slave   -> {"data": "..."}
// Hosts come from the Service env vars when GET_HOSTS_FROM=env (the kubelet injects
// REDIS_MASTER_SERVICE_HOST etc. for Services that existed when the pod started),
// otherwise from the cluster DNS names redis-master / redis-slave.

error_reporting(E_ALL);
ini_set('display_errors', '0');

/** host and port of a Service, by env vars or by DNS name. */
function service_addr(string $name): array {
  $envName = strtoupper(str_replace('-', '_', $name));
  if (getenv('GET_HOSTS_FROM') === 'env') {
    $host = getenv("{$envName}_SERVICE_HOST");
    $port = getenv("{$envName}_SERVICE_PORT");
    if ($host === false || $host === '') {
      throw new RuntimeException("GET_HOSTS_FROM=env but {$envName}_SERVICE_HOST is not set");
    }
    return [$host, ($port === false || $port === '') ? 6379 : (int)$port];
  }
  return [$name, 6379];
}

function connect(string $service): Redis {
  [$host, $port] = service_addr($service);
  $r = new Redis();
  // Short timeouts: a dead backend must turn into an error reply, not a hung worker.
  if (!$r->connect($host, $port, 2.0, null, 0, 2.0)) {
    throw new RuntimeException("cannot connect to {$service} at {$host}:{$port}");
  }
  return $r;
}

function reply(int $code, string $json): void {
  http_response_code($code);
  header('Content-Type: application/json');
  header('X-Served-By: ' . gethostname());
  print($json);
}

$cmd = $_GET['cmd'] ?? null;
$key = $_GET['key'] ?? 'messages';

try {
  if ($cmd === 'set') {
    $value = $_GET['value'] ?? '';
    connect('redis-master')->set($key, $value);
    reply(200, '{"message": "Updated"}');
  } elseif ($cmd === 'get') {
    $value = connect('redis-slave')->get($key);
    reply(200, '{"data": ' . json_encode($value === false ? '' : (string)$value, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE) . '}');
  } else {
    reply(400, '{"error": "cmd must be set or get"}');
  }
} catch (Throwable $e) {
  reply(500, json_encode(['error' => $e->getMessage()]));
}
