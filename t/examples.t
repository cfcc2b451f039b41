#!/usr/bin/perl

# The nginx configurations of examples/ are complete files a user copies:
# each one passes nginx -t as it is written, its machine's paths and ports
# moved into the test's directory and onto loopback, CI and the metadata
# service replaced by the emulators; and the main ones answer lookups.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use JSON::PP ();
use Test::More;

my $examples = "$CiJobsTest::ROOT/examples";
my @files = map { s{.*/}{}r } glob "$examples/*.conf";
ok(scalar @files >= 4, 'examples/ has its configurations')
    or diag("@files");

# each one, nginx -t
for my $name (@files) {
    my $t = CiJobsTest->new(metadata => {});
    my $file = $t->example($name);
    my ($status, $out) = $t->nginx_test_file($file);
    is($status, 0, "$name: nginx -t") or diag($out);
    $t->done;
}

# one bucket with the CVM role's credentials: signed with the role's keys,
# which the emulator alone accepts
{
    my $t = CiJobsTest->new(metadata => { period => 60, lifetime => 120 },
                            emulators => { role => { secrets_file => 1 } });
    $t->start_nginx($t->example('single-bucket-role.conf'));

    # the workers fetch the role's keys after they start
    my $r;
    CiJobsTest::wait_for(sub {
        $r = $t->get('/ci/jobs/jobsSuccess1');
        $r->{status} != 503;
    }, 10);
    is($r->{status}, 200, 'single-bucket-role.conf: a lookup');
    like($r->{body}, qr{<State>Success</State>}, '... in XML');
    $r = $t->get('/ci/jobs/jobsSuccess1', Accept => 'application/json');
    like($r->{body}, qr{^\{"Response":}, '... or JSON on request');
    is(scalar(grep { $_->{signature} eq 'ok' } $t->upstream_requests('role')),
       1, '... signed with the role\'s keys, once (the cache)');
    like($t->get('/ci-status')->{body}, qr{^ci_jobs_}m,
         '... and the metrics');
    $t->done;
}

# several buckets: the first one's location, with the file's keys
{
    my $t = CiJobsTest->new;
    $t->start_nginx($t->example('multi-bucket.conf'));
    my $r = $t->get('/media/jobs/jobsSuccess1');
    is($r->{status}, 200, 'multi-bucket.conf: a lookup under /media/');
    is(CiJobsTest::error_code($t->get('/media/pic_jobs/picSuccess1')),
       'NoSuchApi', '... only the APIs that location names');
    $t->done;
}

# access tokens: the job the token names, nothing else, nothing without it
SKIP: {
    my $sdk = "$CiJobsTest::ROOT/t/sdk/node_modules/jsonwebtoken";
    skip 'jsonwebtoken missing (make deps)', 4 unless -d $sdk;

    my $t = CiJobsTest->new;
    $t->start_nginx($t->example('access-tokens.conf'));

    # minted by jsonwebtoken, as an application would
    my $spec = $t->dir . '/token.json';
    open my $fh, '>', $spec or die "$spec: $!";
    print $fh JSON::PP::encode_json([{
        key => $CiJobsTest::ACCESS_KEY,
        payload => { sub => 'user-1', ci_jobs => [ 'jobsSuccess1' ],
                     exp => time + 600 },
        options => { algorithm => 'HS256', keyid => 'k1' } }]);
    close $fh;
    chomp(my $token = `node $CiJobsTest::ROOT/t/lib/jwt_mint.js $spec`);

    is($t->get('/ci/jobs/jobsSuccess1')->{status}, 401,
       'access-tokens.conf: no token, 401');
    is($t->get('/ci/jobs/jobsSuccess1',
               Authorization => "Bearer $token")->{status}, 200,
       '... the job its token names, 200');
    is($t->get('/ci/jobs/jobsSuccess2',
               Authorization => "Bearer $token")->{status}, 403,
       '... another job, 403');
    like(CiJobsTest::slurp($t->dir . '/access.log'),
         qr{^127\.0\.0\.1 user-1 .*"GET /ci/jobs/jobsSuccess1" 200 MISS}m,
         '... logged by subject, without the token');
    $t->done;
}

# HTTPS and HTTP/2 in front
{
    my $t = CiJobsTest->new;
    my %ports;
    $t->start_nginx($t->example('tls-http2-front.conf', gateway => 443,
                                ports => \%ports));
    my $url = 'https://127.0.0.1:' . $t->port . '/ci/jobs/jobsSuccess1';
    my $out = `curl -sk --http2 -o /dev/null -w '%{http_code} %{http_version}' $url`;
    is($out, '200 2', 'tls-http2-front.conf: a lookup over HTTPS and HTTP/2');
    $out = `curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$ports{80}/ci/`;
    is($out, '301', '... plain HTTP redirected');
    $t->done;
}

done_testing;
