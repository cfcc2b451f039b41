#!/usr/bin/perl

# Job-scoped access (ci_jobs_access token): HS256 tokens minted by real JWT
# libraries (t/lib/jwt_mint.js: jsonwebtoken, jws), checked before the
# cache on two workers; every refusal the contract lists, with nothing of
# a refused request reaching CI; a cache HIT that still needs its token;
# keys rotated by rewriting the key file, without a reload; the cache of
# tokens checked each worker keeps, which changes none of the answers: a
# token kept that expires, one not valid yet, one of a key removed or
# replaced under the same kid.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use File::Temp qw(tempfile);
use JSON::PP;
use MIME::Base64 qw(encode_base64url decode_base64url);
use Test::More;
use Time::HiRes qw(sleep time);

my $sdk = "$CiJobsTest::ROOT/t/sdk/node_modules";
CiJobsTest::require_prerequisite(-d "$sdk/jsonwebtoken",
                                 'jsonwebtoken missing (make deps)');

my $QUEUE = 'p893bcda225bf4945a378da6662e81a89';

sub random_key { encode_base64url(join '', map { chr int rand 256 } 1 .. 32) }

my %key = map { $_ => random_key() } qw(k1 k2 k3 k3new other);

my $t = CiJobsTest->new(
    workers => 2,
    start => 0,
    error_log_level => 'debug',
    secrets => [ values %key ],
    http => <<'EOF');
    ci_jobs_cache_zone ci_jobs:1m;

    log_format scrubbed '$remote_addr "$request_method $uri" $status '
                        '"$ci_jobs_access_subject"';

    server {
        listen 127.0.0.1:%%PORT%%;
        access_log %%DIR%%/access.log scrubbed;
        large_client_header_buffers 4 32k;
        add_header X-Pid $pid always;
        add_header X-Cache $ci_jobs_cache_status always;
        add_header X-Subject $ci_jobs_access_subject always;
        %%CREDENTIALS%%

        location /ci/ {
            ci_jobs on;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
            ci_jobs_apis all;
            ci_jobs_cache ci_jobs;
            ci_jobs_json auto;
            ci_jobs_access token;
            ci_jobs_access_keys %%DIR%%/keys.json;
            ci_jobs_access_max_ttl 2h;
        }

        location /open/ {
            ci_jobs on;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location = /status {
            ci_jobs_status;
        }
    }
EOF

sub write_keys {
    my ($file, @keys) = @_;
    my $tmp = "$file.tmp";
    open my $fh, '>', $tmp or die "$tmp: $!";
    print $fh encode_json({ keys => \@keys });
    close $fh;
    rename $tmp, $file or die "rename: $!";
}

sub oct_key { { kty => 'oct', kid => $_[0], k => $key{$_[0]}, @_[1 .. $#_] } }

my $keys = $t->dir . '/keys.json';

# an RSA key of another use beside the two HMAC keys: left out of the set
write_keys($keys, oct_key('k1', alg => 'HS256', use => 'sig'), oct_key('k2'),
           { kty => 'RSA', kid => 'r1', e => 'AQAB', n => 'sXch' });

$t->start_nginx;

# --- minting --------------------------------------------------------------

# the tokens of the specs, in order (t/lib/jwt_mint.js); none may show in
# the access log or in the module's lines of the error log
my @tokens_minted;

sub mint {
    my @specs = @_;
    my ($fh, $file) = tempfile(DIR => $t->dir, SUFFIX => '.json');
    print $fh encode_json(\@specs);
    close $fh;
    my @tokens = `node $CiJobsTest::ROOT/t/lib/jwt_mint.js $file`;
    die "jwt_mint.js failed" if $? || @tokens != @specs;
    chomp @tokens;
    push @tokens_minted, @tokens;
    return wantarray ? @tokens : $tokens[0];
}

# jsonwebtoken: claims, signed with a key of the set (kid k1 by default)
sub token {
    my (%c) = @_;
    my $kid = delete $c{kid} // 'k1';
    my $alg = delete $c{alg} // 'HS256';
    my $secret = delete $c{secret} // $key{$kid};
    $c{exp} = time + 600 unless exists $c{exp};
    delete $c{exp} unless defined $c{exp};
    return { key => $secret, payload => \%c,
             options => { algorithm => $alg, noTimestamp => JSON::PP::true,
                          ($kid eq '' ? () : (keyid => $kid)) } };
}

sub get_with {
    my ($path, $token) = @_;
    return $t->get($path, Authorization => "Bearer $token");
}

sub refused_401 {
    my ($r, $what) = @_;
    is($r->{status}, 401, "$what: 401");
    is(CiJobsTest::error_code($r), 'InvalidToken', "$what: InvalidToken");
    is($r->{headers}{'www-authenticate'}, 'Bearer error="invalid_token"',
       "$what: WWW-Authenticate");
}

sub refused_403 {
    my ($r, $what) = @_;
    is($r->{status}, 403, "$what: 403");
    is(CiJobsTest::error_code($r), 'AccessDenied', "$what: AccessDenied");
    ok(!exists $r->{headers}{'www-authenticate'},
       "$what: no WWW-Authenticate");
}

my $jobs = [ 'jobsSuccess1', 'jobsRunning1' ];

# --- valid tokens -----------------------------------------------------------

my ($good, $good2) = mint(
    token(sub => 'user-42', ci_jobs => $jobs, ci_queues => [ $QUEUE ],
          ci_workflows => [ 'w1' ]),
    token(sub => 'user-7', ci_jobs => $jobs, kid => 'k2'));

$t->forget_upstream_requests;

my $r = get_with('/ci/jobs/jobsRunning1', $good);
is($r->{status}, 200, 'a token in the header covering the job: 200');
like($r->{body}, qr{<JobId>jobsRunning1</JobId>}, 'the job\'s answer');
is($r->{headers}{'x-subject'}, 'user-42', '$ci_jobs_access_subject: sub');

$r = $t->get("/ci/jobs/jobsRunning1?access_token=$good");
is($r->{status}, 200, 'the same token as access_token: 200');

$r = get_with('/ci/jobs/jobsRunning1', $good2);
is($r->{status}, 200, 'a token signed with the second key (kid k2): 200');
is($r->{headers}{'x-subject'}, 'user-7', 'its subject');

$r = get_with("/ci/jobs?queueId=$QUEUE&tag=Transcode&size=2", $good);
is($r->{status}, 200, 'a list of a queue in ci_queues: 200');

$r = $t->get("/ci/workflowexecution?workflowId=w1&access_token=$good");
is($r->{status}, 200, 'a run list of a workflow in ci_workflows: 200');

my @seen = $t->upstream_requests;
is(scalar @seen, 5, 'each went upstream');
ok(!grep({ encode_json($_) =~ /access_token|Bearer|\Q$good\E|\Q$good2\E/ }
         @seen),
   'no access_token, no token upstream');
is_deeply([ map { $_->{target} } @seen[0 .. 2] ],
          [ ('/jobs/jobsRunning1') x 3 ],
          'the query\'s token left out of the signed request');

# the parameter is the gateway's own even without ci_jobs_access
$r = $t->get("/open/jobs/jobsRunning1?access_token=$good");
is($r->{status}, 200, 'access_token where ci_jobs_access is off: ignored');
is(($t->upstream_requests)[-1]{target}, '/jobs/jobsRunning1',
   'and not sent upstream');

# --- refusals ---------------------------------------------------------------

# a token whose signature holds "-" or "_", written with "+" and "/"
my $alpha;
for my $n (1 .. 50) {
    my $tok = mint(token(ci_jobs => $jobs, sub => "alphabet$n"));
    if ((split /\./, $tok)[2] =~ /[-_]/) { $alpha = $tok; last }
}
ok($alpha, 'a token with "-" or "_" in its signature');
is(get_with('/ci/jobs/jobsRunning1', $alpha)->{status}, 200,
   'which is valid as minted');

$t->forget_upstream_requests;

refused_401($t->get('/ci/jobs/jobsRunning1'), 'no token');
refused_401($t->get('/ci/jobs/jobsRunning1', Authorization => 'Basic eDp5'),
            'Basic credentials, no token');

my $now = time;
my %bad;
@bad{qw(none hs384 hs512 rs256 other kid9 path nokid_set stale
        early noexp strexp longttl notjson notarray subint)} = mint(
    { jws => 1, header => { alg => 'none', kid => 'k1' },
      payload => { ci_jobs => $jobs, exp => $now + 600 } },
    token(ci_jobs => $jobs, alg => 'HS384'),
    token(ci_jobs => $jobs, alg => 'HS512'),
    { hmac => 1, key => $key{k1}, header => { alg => 'RS256', kid => 'k1' },
      payload => { ci_jobs => $jobs, exp => $now + 600 } },
    token(ci_jobs => $jobs, secret => $key{other}),
    token(ci_jobs => $jobs, kid => 'k9', secret => $key{k1}),
    token(ci_jobs => $jobs, kid => '../../etc/passwd', secret => $key{k1}),
    token(ci_jobs => $jobs, kid => '', secret => $key{k1}),
    token(ci_jobs => $jobs, exp => $now - 60),
    token(ci_jobs => $jobs, nbf => $now + 60),
    token(ci_jobs => $jobs, exp => undef),
    { jws => 1, key => $key{k1}, header => { alg => 'HS256', kid => 'k1' },
      payload => { ci_jobs => $jobs, exp => '' . ($now + 600) } },
    token(ci_jobs => $jobs, exp => $now + 3 * 3600),
    { jws => 1, key => $key{k1}, header => { alg => 'HS256', kid => 'k1' },
      payload => 'ci_jobs=jobsRunning1' },
    token(ci_jobs => 'jobsRunning1'),
    token(ci_jobs => $jobs, sub => 42));

my %why = (
    none => 'alg none', hs384 => 'alg HS384', hs512 => 'alg HS512',
    rs256 => 'alg RS256 with an HMAC signature',
    other => 'signed with a key not in the set', kid9 => 'an unknown kid',
    path => 'a kid like ../../etc/passwd',
    nokid_set => 'no kid with a set of two keys',
    stale => 'expired 60 s ago (beyond the leeway)',
    early => 'nbf 60 s ahead (beyond the leeway)', noexp => 'no exp',
    strexp => 'exp a string', longttl => 'exp beyond ci_jobs_access_max_ttl',
    notjson => 'a payload that is not JSON',
    notarray => 'ci_jobs not an array', subint => 'sub not a string');

for my $name (sort keys %why) {
    refused_401(get_with('/ci/jobs/jobsRunning1', $bad{$name}), $why{$name});
}

refused_401($t->get("/ci/jobs/jobsRunning1?access_token=$bad{other}"),
            'a bad token as access_token');

my ($h, $p, $s) = split /\./, $good;
refused_401(get_with('/ci/jobs/jobsRunning1', "$h.$p."), 'signature stripped');
refused_401(get_with('/ci/jobs/jobsRunning1', "$h.$p"), 'two parts');

my $padded = encode_base64url(decode_base64url($p));
$padded .= '=' x ((4 - length($padded) % 4) % 4);
$padded .= '=' if $padded eq $p;
refused_401(get_with('/ci/jobs/jobsRunning1', "$h.$padded.$s"),
            'a padded payload');
refused_401(get_with('/ci/jobs/jobsRunning1', "$h.$p.$s="),
            'a padded signature');

# the form: the signature in the standard alphabet, padding, stripped
(my $standard = $alpha) =~ tr{-_}{+/};
refused_401(get_with('/ci/jobs/jobsRunning1', $standard),
            'the standard base64 alphabet');

my $big = mint(token(ci_jobs => [ @$jobs, map { "j$_" x 4 } 1 .. 400 ]));
cmp_ok(length $big, '>', 8192, 'a token over 8 KB');
refused_401(get_with('/ci/jobs/jobsRunning1', $big), 'an oversize token');

# the scope
refused_403(get_with('/ci/jobs/jobsSuccess1,jobsFailed1', $good),
            'an id outside the scope in a multi-id lookup');
refused_403(get_with('/ci/jobs/jobsFailed1', $good), 'an id outside the scope');
refused_403(get_with("/ci/jobs?queueId=p000000000000000000000000000000ff"
                     . '&tag=Transcode', $good),
            'a list whose queueId is not in ci_queues');
refused_403(get_with("/ci/jobs?queueId=$QUEUE&tag=Transcode", $good2),
            'a list with a token without ci_queues');
refused_403(get_with('/ci/workflowexecution?workflowId=w2', $good),
            'a run list whose workflowId is not in ci_workflows');
refused_403(get_with('/ci/workflowexecution', $good),
            'a run list with no workflowId');

# a header and a query token: the header's alone counts
my ($only_success, $only_failed) = mint(
    token(ci_jobs => [ 'jobsSuccess1' ]),
    token(ci_jobs => [ 'jobsFailed1' ]));
refused_403($t->get("/ci/jobs/jobsFailed1?access_token=$only_failed",
                    Authorization => "Bearer $only_success"),
            'a header token and a query token: the scope never widens');
refused_403($t->get("/ci/jobs/jobsSuccess1,jobsFailed1"
                    . "?access_token=$only_failed",
                    Authorization => "Bearer $only_success"),
            'nor does it for a multi-id lookup');

my @leaked = $t->upstream_requests;
is(scalar @leaked, 0, 'nothing of a refused request reached CI')
    or diag(explain [ map { $_->{target} } @leaked ]);

# within the leeway
my ($late, $soon) = mint(token(ci_jobs => $jobs, exp => time - 10),
                         token(ci_jobs => $jobs, nbf => time + 10));
is(get_with('/ci/jobs/jobsRunning1', $late)->{status}, 200,
   'expired 10 s ago: within the leeway');
is(get_with('/ci/jobs/jobsRunning1', $soon)->{status}, 200,
   'nbf 10 s ahead: within the leeway');
is(get_with('/ci/jobs/jobsSuccess1,jobsRunning1', $good)->{status}, 200,
   'a multi-id lookup with every id in scope');

# --- the cache --------------------------------------------------------------

$r = get_with('/ci/jobs/jobsSuccess1', $good);
is($r->{status}, 200, 'a finished job');
ok(CiJobsTest::wait_for(sub {
       get_with('/ci/jobs/jobsSuccess1', $good)->{headers}{'x-cache'} eq 'HIT'
   }, 5), 'is a cache HIT with the token');

$t->forget_upstream_requests;
$r = $t->get('/ci/jobs/jobsSuccess1');
refused_401($r, 'the cached job without a token');
ok(!$r->{headers}{'x-cache'}, 'refused before the cache');
refused_401(get_with('/ci/jobs/jobsSuccess1', $bad{stale}),
            'the cached job with an expired token');
refused_403(get_with('/ci/jobs/jobsSuccess1', $only_failed),
            'the cached job with a token for another job');
is(scalar(() = $t->upstream_requests), 0, 'none of them went upstream');

# --- metrics ----------------------------------------------------------------

my %m = map { /^(\S+) (\d+)$/ ? ($1 => $2) : () }
        split /\n/, $t->get('/status')->{body};
for my $reason (qw(missing malformed signature expired scope)) {
    cmp_ok($m{"ci_jobs_access_refusals_total{reason=\"$reason\"}"} // 0,
           '>', 0, "ci_jobs_access_refusals_total{reason=\"$reason\"}");
}

# --- rotation ---------------------------------------------------------------

my ($with_k3) = mint(token(ci_jobs => $jobs, kid => 'k3'));
refused_401(get_with('/ci/jobs/jobsRunning1', $with_k3),
            'a kid not in the set yet');

# the statuses a token gets from each worker, asked until both answered
sub all_status {
    my ($token) = @_;
    my (%s, %pids);
    for (1 .. 60) {
        my $r = get_with('/ci/jobs/jobsRunning1', $token);
        $s{$r->{status}} = 1;
        $pids{ $r->{headers}{'x-pid'} // '' } = 1;
        last if keys %pids >= 2;
    }
    return join ',', sort keys %s;
}

# each worker keeps the tokens it has checked: k1's is kept by both
is(all_status($good), '200', 'a token of k1, checked by both workers');

write_keys($keys, oct_key('k2'), oct_key('k3'));

my $start = int time;
ok(CiJobsTest::wait_for(sub { all_status($with_k3) eq '200'
                              && all_status($good) eq '401' }, 5),
   'a new key (kid k3) is used, the removed one (k1) refused, no reload');
cmp_ok(int(time) - $start, '<=', 3, 'within a second or two');
is(all_status($good2), '200', 'the kept key (kid k2) still works');

# an unusable file keeps the keys in use
open my $fh, '>', $keys or die;
print $fh '{"keys": [';
close $fh;
sleep 1.2;
is(all_status($with_k3), '200', 'a broken key file: the keys in use stay');
like($t->error_log, qr/"ci_jobs_access_keys" ".*keys\.json" is not usable/,
     'and the file is reported');

# --- the cache of tokens checked --------------------------------------------

# k3 replaced under the same kid: a token of the old k3, kept by both
# workers, is refused as soon as they read the file
write_keys($keys, oct_key('k2'), { kty => 'oct', kid => 'k3',
                                   k => $key{k3new} });
my ($with_k3new) = mint(token(ci_jobs => $jobs, kid => 'k3',
                              secret => $key{k3new}));
ok(CiJobsTest::wait_for(sub { all_status($with_k3new) eq '200'
                              && all_status($with_k3) eq '401' }, 5),
   'a key replaced under its kid: its old tokens, though kept, refused');

# kept, then expired: exp 24 s ago, valid 6 s more with the leeway; not
# valid yet: nbf 35 s ahead, valid in 5 s
my $t0 = int time;
my ($expiring, $pending) = mint(
    token(sub => 'expiring', ci_jobs => $jobs, kid => 'k2', exp => $t0 - 24),
    token(sub => 'pending', ci_jobs => $jobs, kid => 'k2', nbf => $t0 + 35));
is(all_status($pending), '401', 'nbf beyond the leeway: refused');
is(all_status($expiring), '200', 'a token valid 6 s more: 200 from both');
cmp_ok(time, '<', $t0 + 5, 'both asked in time') or diag('a slow machine');

sleep 0.1 while time < $t0 + 6.2;
is(all_status($expiring), '401',
   'kept, then expired: refused at once by both workers');
is(all_status($pending), '200', 'kept while not valid yet, then valid: 200');

# --- nginx -t ---------------------------------------------------------------

sub conf_with {
    my ($directives) = @_;
    return "server { listen 127.0.0.1:%%PORT%%; location /x/ { ci_jobs on; "
         . "%%CREDENTIALS%% ci_jobs_pass http://127.0.0.1:%%EMU_plain%%; "
         . "ci_jobs_access token; $directives } }";
}

my $dir = $t->dir;
my ($status, $out) = $t->nginx_test(conf_with(''));
isnt($status, 0, 'nginx -t: ci_jobs_access token without keys');
like($out, qr/"ci_jobs_access_keys" is not set/, 'says so');

($status, $out) = $t->nginx_test(
    conf_with("ci_jobs_access_keys $dir/missing.json;"));
isnt($status, 0, 'nginx -t: a missing key file');
like($out, qr/cannot be opened/, 'says so');

write_keys("$dir/rsa.json", { kty => 'RSA', e => 'AQAB', n => 'sXch' });
($status, $out) = $t->nginx_test(
    conf_with("ci_jobs_access_keys $dir/rsa.json;"));
isnt($status, 0, 'nginx -t: a key set without a usable key');
like($out, qr/no "oct" key/, 'says so');

write_keys("$dir/short.json",
           { kty => 'oct', kid => 's', k => encode_base64url('x' x 31) });
($status, $out) = $t->nginx_test(
    conf_with("ci_jobs_access_keys $dir/short.json;"));
isnt($status, 0, 'nginx -t: a key shorter than 32 bytes');
unlike($out, qr/eHh4/, 'no key material in the message');

write_keys("$dir/one.json", oct_key('k1'));
($status, $out) = $t->nginx_test(
    conf_with("ci_jobs_access_keys $dir/one.json;"));
is($status, 0, 'nginx -t: a set of one key') or diag($out);

# nginx's own debug lines quote the request; the module's quote no token
my @module_lines = grep { /ci_jobs/ } split /\n/, $t->error_log;
my $access_log = CiJobsTest::slurp($t->dir . '/access.log');
ok(!grep({ my $tok = $_; grep({ index($_, $tok) >= 0 } @module_lines) }
         @tokens_minted),
   'no token in the module\'s lines of the error log, debug included');
ok(!grep({ index($access_log, $_) >= 0 } @tokens_minted),
   'no token in the access log written with $uri');

$t->done;
done_testing;
