// Imported first by every k8ts process. `__proto__` becomes an ordinary key, as with
// `node --disable-proto=delete`: `o[k] = v` with a key from user data can then never replace
// an object's prototype, nor `o[k]` read Object.prototype, in our code or a dependency's.
// The code that merges user JSON does not rely on this (api/object.ts); it is the second wall.
Reflect.deleteProperty(Object.prototype, '__proto__');
